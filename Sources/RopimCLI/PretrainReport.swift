// `ropim pretrain`'s pictures and closing report: reconstruction pictures in the TensorBoard event file while it
// trains (run.image_every), and, when it ends (run.report), what a newcomer can look at: reconstructions.png, the
// k-NN accuracy of the trained encoder against a random one of the same shape, and the commands to try next.

import Foundation
import ROPIMDownstream
import ROPIMKernels
import ROPIMNN
import ROPIMTensorBoard
import ROPIMTraining
import ROPIMVisualize

extension Pretrain {
    /// The images the pictures show, chosen once (when TensorBoard pictures or the report need them); installs the
    /// trainer's `imageHook` for TensorBoard. Data without images to draw is a note, not an error.
    func reconstructionPictures(_ c: PretrainConfig, trainer: PretrainTrainer, runDirectory: String,
                                compute: ComputeContext) -> ReconstructionSnapshot? {
        let tensorboard = c.run.tensorboard && c.run.imageEvery > 0
        guard tensorboard || c.run.report else { return nil }
        let snapshot: ReconstructionSnapshot
        do {
            snapshot = try ReconstructionSnapshot(source: trainer.dataset, model: c.model, normalization: c.data.normalization,
                                                  compute: compute)
        } catch {
            print("reconstruction pictures: none (\(error))")
            return nil
        }
        if tensorboard {
            let name = (runDirectory as NSString).lastPathComponent
            trainer.imageHook = { epoch, model in
                let canvas = snapshot.draw(model, title: "\(name) epoch \(epoch), training images")
                return EncodedImage(png: try PNG.encode(canvas), width: canvas.width, height: canvas.height, channels: 3)
            }
        }
        return snapshot
    }

    /// Prints the closing report and returns what it measured for summary.json (`reconstructions`, `knn_top1`,
    /// `knn_random_top1`, `report_seconds`). The run is saved by then: a part that cannot be done (unlabelled data
    /// has no k-NN) is said and skipped. The k-NN measures a run that trained its whole schedule (`steps` of all
    /// epochs): a try cut short by --max-steps gets the picture and the next commands only. `finalKNN` is the
    /// k-NN monitor's result after the last epoch, if it ran.
    func closingReport(_ c: PretrainConfig, trainer: PretrainTrainer, steps: Int, pictures: ReconstructionSnapshot?,
                       finalKNN: [String: Any]?, runDirectory dir: String, compute: ComputeContext) -> [String: Any] {
        let start = Date()
        var out: [String: Any] = [:]
        if let pictures {
            let path = dir + "/reconstructions.png"
            let title = "\((dir as NSString).lastPathComponent) step \(trainer.optimizer.step), training images"
            do {
                try PNG.write(pictures.draw(trainer.model, title: title), to: path)
                print("reconstructions: \(path)")
                out["reconstructions"] = path
            } catch { print("reconstructions: not drawn (\(error))") }
        }
        let planned = c.optim.epochs * trainer.stepsPerEpoch
        if steps < planned {
            print("k-NN: not measured (the run stopped at step \(steps) of \(planned)); `ropim knn --pretrained` measures any checkpoint")
        } else {
            do { out.merge(try knnAgainstRandom(c, encoder: trainer.model.encoder, finalKNN: finalKNN,
                                                 worldSize: trainer.communicator.worldSize, compute: compute)) { $1 } } catch {
                print("k-NN: skipped (\(error))")
            }
        }
        out["report_seconds"] = Date().timeIntervalSince(start)
        // Paths quoted for the shell, so a run directory with spaces or quotes pastes as one argument.
        let ck = shellQuoted(dir + "/checkpoint.safetensors"), d = shellQuoted(dir)
        var next = [("ropim visualize --checkpoint \(d) --count 16", "more reconstructions"),
                    ("ropim knn --pretrained \(ck)", "k-NN on the whole splits"),
                    ("ropim linprobe --pretrained \(ck) --last-blocks 4", "linear probe on frozen features"),
                    ("ropim finetune --pretrained \(ck) --epochs 3", "fine-tune as a classifier"),
                    ("ropim plot \(d)", "loss, learning rate and gradient-norm curves")]
        if c.run.tensorboard {
            let parent = (dir as NSString).deletingLastPathComponent
            next.append(("tensorboard --logdir \(shellQuoted(parent.isEmpty ? "." : parent))",
                         "the curves and pictures in TensorBoard (pip install tensorboard)"))
        }
        let width = next.map(\.0.count).max() ?? 0
        print("next:")
        for (command, what) in next { print("  " + command.padding(toLength: width, withPad: " ", startingAt: 0) + "   # " + what) }
        return out
    }

    /// k-NN top-1 of `encoder` (or the monitor's `finalKNN`) and of a freshly initialized encoder of the same
    /// shape (`ropim knn --features random`'s), on the run's k-NN subsets; prints one line. Rank 0 alone
    /// computes it (in the batches of the run's `worldSize` ranks, as the monitor did).
    func knnAgainstRandom(_ c: PretrainConfig, encoder: VisionTransformer, finalKNN: [String: Any]?, worldSize: Int,
                          compute: ComputeContext) throws -> [String: Any] {
        let monitor = try KNNMonitor(config: c, worldSize: worldSize, compute: compute)
        let trained = try finalKNN ?? monitor.evaluate(encoder: encoder, compute: compute)
        let random = try monitor.evaluate(encoder: try probeEncoder(checkpoint: nil, model: c.model, random: true, seed: c.run.seed),
                                          compute: compute)
        let (a, b) = (trained["knn_top1"] as? Double ?? .nan, random["knn_top1"] as? Double ?? .nan)
        print(String(format: "k-NN top-1 (%d-NN, %d test images, %d train images as memory): %.1f %% with this encoder, %.1f %% with a random one",
                     c.run.knnK, monitor.test.count, monitor.train.count, a, b))
        return ["knn_top1": a, "knn_random_top1": b]
    }
}

/// `text` as one POSIX shell word: unchanged when it holds only characters no shell treats specially,
/// else in single quotes (a single quote inside written as '\'').
func shellQuoted(_ text: String) -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !text.isEmpty && text.allSatisfy(plain.contains) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
