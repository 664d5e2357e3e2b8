// The one place a command turns its thread count (`--threads` / `run.threads`) into the compute context
// that every library call of the command then receives.

import ArgumentParser
import ROPIMKernels

/// The command's compute context for `threads` (0 = all cores). A bad count is a usage error that names
/// `--threads` / `run.threads` and the allowed range.
func resolveCompute(threads: Int) throws -> ComputeContext {
    do { return try ComputeContext.resolve(threads: threads) } catch { throw ValidationError("\(error)") }
}
