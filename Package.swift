// swift-tools-version:6.0
// ropim: ROPIM (Random Orthogonal Projection Image Modeling) pre-training for Vision Transformers.
//
// Targets import one way (docs/ARCHITECTURE.md draws the graph):
//   CDNNL (GEMM: oneDNN on Linux; Accelerate on macOS)
//     → ROPIMKernels (tensors, GEMM, threads, seeded RNG)
//   ROPIMFiles (safetensors, the atomic writer, JSON strings)
//     → ROPIMTensorBoard (TensorBoard event files; swift-protobuf)
//     → ROPIMConfig (YAML ↔ Codable with file/line errors)
//   ROPIMData (datasets, decoding, augmentation, dataset selection; Kernels + Files)
//   CMPI (Open MPI, Linux) → ROPIMDistributed (the communicator of data-parallel runs: rank, world, collectives)
//   ROPIMNN (ViT layers, forward + backward side by side; Kernels)
//     → ROPIMOptim (AdamW, SGD, clipping, cosine schedule, layer decay)
//     → ROPIMCore (count sketch, pre-training objectives and their loss)
//     → ROPIMTraining (pre-training config and presets, trainer, checkpoints, interchange; + Distributed)
//     → ROPIMVisualize (pictures: reconstructions, corruption statistics, training curves; PNG via libpng)
//     → ROPIMDownstream (fine-tuning, linear probing, k-NN on frozen features)
//     → ropim (the command-line tool, thin)
import Foundation
import PackageDescription

// Explicit SIMD (SIMD16<Float>, addingProduct) is only fast when the compiler may use AVX-512/FMA.
// Build for this machine's vector unit by default; ROPIM_TARGET_CPU=<llvm cpu> picks another
// (e.g. `x86-64` for a portable binary, `znver4`, `skylake-avx512`), ROPIM_TARGET_CPU=none passes nothing.
func targetCPUFlags() -> [String] {
    let env = ProcessInfo.processInfo.environment["ROPIM_TARGET_CPU"]
    if let cpu = env { return cpu == "none" || cpu.isEmpty ? [] : ["-target-cpu", cpu] }
    #if os(Linux) && arch(x86_64)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return ["-target-cpu", "skylake-avx512"] }
    if flags.isSuperset(of: ["avx2", "fma"]) { return ["-target-cpu", "haswell"] }
    #endif
    return []
}

// Library targets log through swift-log; the command line installs its own handler (Sources/RopimCLI/Console.swift).
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let numericSettings: [SwiftSetting] = [.unsafeFlags(targetCPUFlags())]

#if os(Linux)
let gemmDependencies: [Target.Dependency] = ["CDNNL"]
let mpiDependencies: [Target.Dependency] = ["CMPI"]
let gemmLinker: [LinkerSetting] = []
#else
let gemmDependencies: [Target.Dependency] = []
let mpiDependencies: [Target.Dependency] = []
let gemmLinker: [LinkerSetting] = [.linkedFramework("Accelerate")]
#endif

let package = Package(
    name: "ropim",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ropim", targets: ["RopimCLI"]),
        .library(name: "ROPIM", targets: ["ROPIMKernels", "ROPIMFiles", "ROPIMTensorBoard", "ROPIMConfig", "ROPIMData", "ROPIMOptim", "ROPIMNN", "ROPIMCore", "ROPIMTraining", "ROPIMVisualize", "ROPIMDownstream", "ROPIMDistributed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL",
                       providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib",
                       providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG",
                       providers: [.apt(["libturbojpeg0-dev"]), .brew(["jpeg-turbo"])]),
        .target(name: "ROPIMKernels", dependencies: gemmDependencies,
                swiftSettings: numericSettings, linkerSettings: gemmLinker),
        .target(name: "ROPIMFiles"),
        .target(name: "ROPIMDistributed", dependencies: mpiDependencies),
        // TensorBoard event files (their own target: the protobuf runtime stays out of every other one).
        .target(name: "ROPIMTensorBoard", dependencies: ["ROPIMFiles", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto"]),
        .target(name: "ROPIMConfig", dependencies: ["ROPIMFiles", .product(name: "Yams", package: "Yams")]),
        .target(name: "ROPIMData", dependencies: ["ROPIMKernels", "ROPIMFiles", "CZlib", "CTurboJPEG", "CPNG", logging],
                swiftSettings: numericSettings),
        .target(name: "ROPIMNN", dependencies: ["ROPIMKernels"], swiftSettings: numericSettings),
        .target(name: "ROPIMOptim", dependencies: ["ROPIMNN", "ROPIMKernels"], swiftSettings: numericSettings),
        .target(name: "ROPIMCore", dependencies: ["ROPIMNN", "ROPIMKernels"], swiftSettings: numericSettings),
        .target(name: "ROPIMTraining",
                dependencies: ["ROPIMCore", "ROPIMOptim", "ROPIMData", "ROPIMNN", "ROPIMConfig", "ROPIMFiles", "ROPIMKernels",
                               "ROPIMTensorBoard", "ROPIMDistributed", logging],
                swiftSettings: numericSettings),
        .target(name: "ROPIMVisualize",
                dependencies: ["ROPIMCore", "ROPIMData", "ROPIMNN", "ROPIMFiles", "ROPIMKernels", "CPNG"],
                swiftSettings: numericSettings),
        .target(name: "ROPIMDownstream",
                dependencies: ["ROPIMTraining", "ROPIMCore", "ROPIMOptim", "ROPIMData", "ROPIMNN", "ROPIMConfig", "ROPIMFiles", "ROPIMKernels",
                               "ROPIMDistributed", logging],
                swiftSettings: numericSettings),
        .executableTarget(name: "RopimCLI",
                          dependencies: ["ROPIMDownstream", "ROPIMVisualize", "ROPIMTraining", "ROPIMCore", "ROPIMOptim", "ROPIMData",
                                         "ROPIMNN", "ROPIMConfig", "ROPIMFiles", "ROPIMKernels", "ROPIMTensorBoard", "ROPIMDistributed", logging,
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/RopimCLI"),
        .testTarget(name: "ROPIMKernelsTests", dependencies: ["ROPIMKernels"], swiftSettings: numericSettings),
        // Shared by test targets (not shipped): scratch folders, and the seeded file edits of the fuzz tests.
        .target(name: "ROPIMTestSupport", dependencies: ["ROPIMKernels"], path: "Tests/TestSupport"),
        .testTarget(name: "ROPIMFilesTests", dependencies: ["ROPIMFiles", "ROPIMTestSupport", "ROPIMKernels"]),
        .testTarget(name: "ROPIMTensorBoardTests", dependencies: ["ROPIMTensorBoard", "ROPIMTestSupport"]),
        .testTarget(name: "ROPIMConfigTests", dependencies: ["ROPIMConfig"]),
        .testTarget(name: "ROPIMDistributedTests", dependencies: ["ROPIMDistributed"]),
        .testTarget(name: "ROPIMDataTests", dependencies: ["ROPIMData", "ROPIMFiles", "ROPIMKernels"], exclude: ["Fixtures"],
                    swiftSettings: numericSettings),
        .testTarget(name: "ROPIMNNTests", dependencies: ["ROPIMNN", "ROPIMKernels"], swiftSettings: numericSettings),
        .testTarget(name: "ROPIMOptimTests", dependencies: ["ROPIMOptim", "ROPIMNN", "ROPIMKernels"], swiftSettings: numericSettings),
        .testTarget(name: "ROPIMCoreTests", dependencies: ["ROPIMCore", "ROPIMNN", "ROPIMKernels", "ROPIMFiles"],
                    exclude: ["Fixtures"],
                    swiftSettings: numericSettings),
        .testTarget(name: "ROPIMTrainingTests",
                    dependencies: ["ROPIMTraining", "ROPIMCore", "ROPIMOptim", "ROPIMData", "ROPIMNN", "ROPIMConfig", "ROPIMFiles", "ROPIMKernels",
                                   "ROPIMTestSupport", logging],
                    exclude: ["Fixtures"],
                    swiftSettings: numericSettings),
        .testTarget(name: "ROPIMVisualizeTests",
                    dependencies: ["ROPIMVisualize", "ROPIMTraining", "ROPIMCore", "ROPIMData", "ROPIMNN", "ROPIMFiles", "ROPIMKernels", "CPNG"],
                    swiftSettings: numericSettings),
        .testTarget(name: "RopimCLITests",
                    dependencies: ["RopimCLI", "ROPIMDownstream", "ROPIMTraining", "ROPIMCore", "ROPIMOptim", "ROPIMData", "ROPIMNN",
                                   "ROPIMConfig", "ROPIMFiles", "ROPIMKernels", "ROPIMTestSupport",
                                   .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "ROPIMDownstreamTests",
                    dependencies: ["ROPIMDownstream", "ROPIMDistributed", "ROPIMTraining", "ROPIMCore", "ROPIMOptim", "ROPIMData", "ROPIMNN", "ROPIMConfig",
                                   "ROPIMFiles", "ROPIMKernels"],
                    swiftSettings: numericSettings),
    ],
    swiftLanguageModes: [.v5]
)
