// Named starting points. The 224-px ViT presets are the reference recipe (docs/METHOD.md §5); the small-image
// presets fit a 2-core CPU. A YAML file and flags override a preset.

import ROPIMCore
import ROPIMNN

public enum Preset: String, CaseIterable, Sendable {
    case fmnist = "fmnist"          // Fashion-MNIST 28 px / patch 4: K = 49, K' = 7 (ρ = 1/7)
    case cifar = "cifar"            // 32 px / patch 4: K = 64, K' = 8 (1/7 does not divide 64)
    case vitTiny = "vit-tiny"       // 224 px / patch 16: K = 196, K' = 28
    case vitSmall = "vit-small"
    case vitBase = "vit-base"

    public var summary: String {
        switch self {
        case .fmnist: return "Fashion-MNIST 28px/p4, ViT 192 wide × 6 deep, 3 heads; K=49, K'=7 (default)"
        case .cifar: return "32px/p4 RGB, ViT-T 192×12, 3 heads; K=64, K'=8"
        case .vitTiny: return "ImageNet recipe 224px/p16, ViT-T 192×12, 3 heads; K=196, K'=28; 800 epochs, base LR 1e-3"
        case .vitSmall: return "ImageNet recipe 224px/p16, ViT-S 384×12, 6 heads; 300 epochs, base LR 1.5e-4"
        case .vitBase: return "ImageNet recipe 224px/p16, ViT-B 768×12, 12 heads; 300 epochs, base LR 1.5e-4"
        }
    }

    public var config: PretrainConfig {
        var c = PretrainConfig()
        switch self {
        case .fmnist:
            c.model.imgSize = 28; c.model.patchSize = 4; c.model.inChans = 1
            c.model.embedDim = 192; c.model.depth = 6; c.model.numHeads = 3
            c.method.sketchSize = 7; c.method.maskPatchSize = 4
            c.data.normalization = .fashionMNIST
            c.optim.epochs = 20; c.optim.batchSize = 128; c.optim.warmupEpochs = 1; c.optim.baseLR = 1e-3
        case .cifar:
            c.model.imgSize = 32; c.model.patchSize = 4; c.model.inChans = 3
            c.model.embedDim = 192; c.model.depth = 12; c.model.numHeads = 3
            c.method.sketchSize = 8; c.method.maskPatchSize = 8
            c.data.dataset = .synthetic; c.data.normalization = .imagenet
            c.optim.epochs = 100; c.optim.batchSize = 128; c.optim.warmupEpochs = 5
        case .vitTiny, .vitSmall, .vitBase:
            c.model.imgSize = 224; c.model.patchSize = 16; c.model.inChans = 3
            (c.model.embedDim, c.model.numHeads) = self == .vitTiny ? (192, 3) : self == .vitSmall ? (384, 6) : (768, 12)
            c.model.depth = 12
            c.method.sketchSize = 28; c.method.maskPatchSize = 32
            c.data.dataset = .synthetic; c.data.normalization = .imagenet
            c.optim.epochs = self == .vitTiny ? 800 : 300
            c.optim.baseLR = self == .vitTiny ? 1e-3 : 1.5e-4
            c.optim.batchSize = 64; c.optim.warmupEpochs = 5
        }
        return c
    }
}
