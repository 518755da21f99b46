#include "threads.h"

#ifdef ET_USE_THREADPOOL
#if __has_include(<executorch/extension/threadpool/threadpool.h>)
// A source install of ExecuTorch ships the header.
#include <executorch/extension/threadpool/threadpool.h>
#else
#include <cstddef>
#include <cstdint>
// The pip wheel ships libexecutorch_threadpool.so but not threadpool.h.  These are the two exported member
// functions used here, declared exactly as upstream's extension/threadpool/threadpool.h declares them (checked
// against the wheel's exported symbols: ThreadPool::_unsafe_reset_threadpool(unsigned int),
// ThreadPool::get_thread_count() const, get_threadpool()).  Only pointers to the class are used, never its
// layout.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool
#endif
#endif

namespace elir {

#ifdef ET_USE_THREADPOOL
bool thread_control_available() { return executorch::extension::threadpool::get_threadpool() != nullptr; }
bool set_threads(unsigned n) {
  auto* pool = executorch::extension::threadpool::get_threadpool();
  return pool && pool->_unsafe_reset_threadpool(n) && pool->get_thread_count() == n;
}
unsigned current_threads() {
  auto* pool = executorch::extension::threadpool::get_threadpool();
  return pool ? static_cast<unsigned>(pool->get_thread_count()) : 0;
}
#else
bool thread_control_available() { return false; }
bool set_threads(unsigned) { return false; }
unsigned current_threads() { return 0; }
#endif

}  // namespace elir
