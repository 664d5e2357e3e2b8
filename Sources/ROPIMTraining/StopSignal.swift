// Ctrl-C (SIGINT) and SIGTERM without signal handlers. A handler runs on whichever thread the kernel
// picks — often a compute thread in the middle of a kernel or an allocation — and interrupts its system
// calls; that crashed about one run in four. Instead both signals are blocked in every thread (the mask
// is set before any thread starts, and threads inherit it) and one waiter thread receives them with
// sigwait, an ordinary thread that can safely take a lock and print.
//
// What a signal does: while a training loop has asked for a graceful stop (`stopAtStepBoundary`), the
// first signal asks it to stop at the next step boundary (it then saves a resumable checkpoint and the
// command exits 130); any other signal, or a second one, ends the process at once with status 130
// (files are only ever replaced by rename, so nothing half-written is left in place).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum StopSignal {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var graceful = false
    nonisolated(unsafe) private static var received = 0

    /// Blocks SIGINT and SIGTERM in this thread (and so in every thread started after it) and starts the
    /// waiter. Call first thing in `main`, before any other thread exists. Idempotent.
    public static func start() {
        lock.lock(); defer { lock.unlock() }
        guard !started else { return }
        started = true
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let signals = set
        let waiter = Thread {
            var wanted = signals
            while true {
                var sig: Int32 = 0
                guard sigwait(&wanted, &sig) == 0 else { continue }
                StopSignal.deliver(sig)
            }
        }
        waiter.name = "ropim-signals"
        waiter.start()
    }
    nonisolated(unsafe) private static var started = false

    /// From now on the first SIGINT/SIGTERM asks for a stop at the next step boundary (`requested`).
    public static func stopAtStepBoundary() {
        lock.lock(); graceful = true; lock.unlock()
    }

    /// Whether a signal asked the training loop to stop.
    public static var requested: Bool {
        lock.lock(); defer { lock.unlock() }
        return received > 0 && graceful
    }

    /// Forgets signals received so far and leaves graceful mode (tests).
    public static func reset() {
        lock.lock(); received = 0; graceful = false; lock.unlock()
    }

    static func deliver(_ sig: Int32) {
        lock.lock()
        received += 1
        let stopNow = !graceful || received > 1
        lock.unlock()
        let name = sig == SIGINT ? "SIGINT" : "SIGTERM"
        if stopNow {
            FileHandle.standardError.write(Data("\n\(name): stopping now\n".utf8))
            fflush(stdout)
            _exit(130)
        }
        FileHandle.standardError.write(Data("\n\(name): stopping after this step and saving a resumable checkpoint (again to stop at once)\n".utf8))
    }
}
