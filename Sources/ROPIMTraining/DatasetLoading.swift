// Turns the data section of a config into images in memory.

import ROPIMData
import Foundation

/// Loads the training images the config names (IDX train split, or synthetic), then applies `data.subset`.
public func loadDataset(_ c: PretrainConfig) throws -> ImageDataset {
    var d: ImageDataset
    switch c.data.dataset {
    case .idx:
        d = try IDX.loadFolder(c.data.path, split: .train)
    case .synthetic:
        d = SyntheticImages.make(count: c.data.syntheticCount, channels: c.model.inChans, size: c.model.imgSize,
                                 classes: 10, seed: UInt64(truncatingIfNeeded: c.run.seed))
    }
    if c.data.subset > 0 && c.data.subset < d.count {
        d = d.seededSubset(c.data.subset, seed: UInt64(truncatingIfNeeded: c.run.seed))
    }
    return d
}
