"""How a run or a batch stops on a signal: SIGTERM and SIGHUP (a closed
terminal, a dropped connection) stop it the way Ctrl-C does, by raising
KeyboardInterrupt in the main thread, so that the best image and its
checkpoint are kept and a batch can stop its jobs instead of orphaning them.
"""
import contextlib
import signal
import threading


def raise_interrupt(signum, frame):
    """A signal handler that raises KeyboardInterrupt."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_signals():
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt, and
    SIGINT does too even if the process started with it ignored (a shell
    script's background job). Handlers set by the caller are left alone,
    nohup's ignored SIGHUP stays ignored, and the previous handlers come
    back afterwards. No-op outside the main thread (where Python cannot set
    handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {signal.SIGTERM: raise_interrupt,
              signal.SIGHUP: raise_interrupt,
              signal.SIGINT: signal.default_int_handler}
    previous = {}
    try:
        for signum, handler in wanted.items():
            current = signal.getsignal(signum)
            if current == signal.SIG_DFL or (current == signal.SIG_IGN
                                             and signum == signal.SIGINT):
                previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
