// ViTConfig.encoderSize: what building an encoder allocates, known before it is built, so a file that
// describes an architecture can be checked against its own size first (issue 14).

import XCTest
import ROPIMKernels
@testable import ROPIMNN

final class ViTConfigTests: XCTestCase {
    /// Equal to what VisionTransformer registers, in every position-embedding, relative-bias and LayerScale mode.
    func testEncoderSizeCountsWhatTheEncoderRegisters() throws {
        for pos in PositionEmbedding.allCases {
            for rel in RelativePositionMode.allCases {
                for (layerScale, ratio) in [(0.1, 4.0), (0, 2.5)] {
                    var v = ViTConfig()
                    v.imgSize = 12; v.patchSize = 3; v.inChans = 2; v.embedDim = 8; v.depth = 3; v.numHeads = 2
                    v.posEmbed = pos; v.relPosBias = rel; v.layerScaleInit = layerScale; v.mlpRatio = ratio
                    try v.validate()
                    let params = ParameterStore()
                    let vit = VisionTransformer(config: v, params: params)
                    let tables = [vit.sharedRelPos].compactMap { $0 } + vit.blocks.compactMap(\.attn.relPos)
                    XCTAssertEqual(v.encoderSize.parameters, params.count, "\(pos) \(rel) \(layerScale)")
                    XCTAssertEqual(v.encoderSize.indexEntries, tables.map(\.index.count).reduce(0, +), "\(pos) \(rel)")
                }
            }
        }
    }
}
