/*
 * vgl_thread.h -- a minimal portable mutex, plain C (no Python.h), so that it
 * can be taken and released without the GIL and used by the loader, the core
 * and the simulated library alike.
 */
#ifndef VGL_THREAD_H
#define VGL_THREAD_H

#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
typedef SRWLOCK vgl_mutex;
#  define VGL_MUTEX_INITIALIZER SRWLOCK_INIT
static inline void vgl_mutex_init(vgl_mutex *m) { InitializeSRWLock(m); }
static inline void vgl_mutex_destroy(vgl_mutex *m) { (void)m; }
static inline void vgl_mutex_lock(vgl_mutex *m) { AcquireSRWLockExclusive(m); }
static inline int vgl_mutex_trylock(vgl_mutex *m)
{
    return TryAcquireSRWLockExclusive(m) ? 1 : 0;
}
static inline void vgl_mutex_unlock(vgl_mutex *m) { ReleaseSRWLockExclusive(m); }
#else
#  include <pthread.h>
typedef pthread_mutex_t vgl_mutex;
#  define VGL_MUTEX_INITIALIZER PTHREAD_MUTEX_INITIALIZER
static inline void vgl_mutex_init(vgl_mutex *m) { pthread_mutex_init(m, NULL); }
static inline void vgl_mutex_destroy(vgl_mutex *m) { pthread_mutex_destroy(m); }
static inline void vgl_mutex_lock(vgl_mutex *m) { pthread_mutex_lock(m); }
/* 1 when the lock was taken, 0 when it is held elsewhere. */
static inline int vgl_mutex_trylock(vgl_mutex *m)
{
    return pthread_mutex_trylock(m) == 0;
}
static inline void vgl_mutex_unlock(vgl_mutex *m) { pthread_mutex_unlock(m); }
#endif


/* Small atomics for flags and pointers shared between threads. */
#if defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
static inline int vgl_atomic_load_int(volatile long *p)
{
    return (int)_InterlockedCompareExchange(p, 0, 0);
}
static inline void vgl_atomic_store_int(volatile long *p, int v)
{
    _InterlockedExchange(p, (long)v);
}
static inline void *vgl_atomic_load_ptr(void *volatile *p)
{
    return _InterlockedCompareExchangePointer(p, NULL, NULL);
}
static inline void vgl_atomic_store_ptr(void *volatile *p, void *v)
{
    _InterlockedExchangePointer(p, v);
}
static inline long vgl_atomic_add(volatile long *p, long v)
{
    return _InterlockedExchangeAdd(p, v) + v;
}
#else
static inline int vgl_atomic_load_int(volatile long *p)
{
    return (int)__atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void vgl_atomic_store_int(volatile long *p, int v)
{
    __atomic_store_n(p, (long)v, __ATOMIC_RELEASE);
}
static inline void *vgl_atomic_load_ptr(void *volatile *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void vgl_atomic_store_ptr(void *volatile *p, void *v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
/* Returns the new value. */
static inline long vgl_atomic_add(volatile long *p, long v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
}
#endif

#endif /* VGL_THREAD_H */
