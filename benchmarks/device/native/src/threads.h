// CPU thread control for ExecuTorch's shared thread pool (used by XNNPACK and the optimized kernels).
#pragma once

namespace elir {

// True when this build links ExecuTorch's thread pool (ET_USE_THREADPOOL).
bool thread_control_available();
// Resizes the pool to `n` threads (n >= 1); returns false when that failed.
bool set_threads(unsigned n);
// Threads the pool actually has now; 0 when there is no pool.
unsigned current_threads();

}  // namespace elir
