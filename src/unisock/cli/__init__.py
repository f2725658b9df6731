"""The ``unisock`` command line: a netcat for every transport, built on the public API only.

One module per concern: ``args`` (the parser), ``run`` (loop, errors, Ctrl-C), ``tasks``
(jobs, sleeps and waits on asyncio or trio), ``options`` (flags to ``SocketInit``),
``stdio`` (stdin/stdout as streams), ``connect``, ``listen``, ``transfer`` (send/recv),
``progress``, ``info``, ``demo``, ``bench``, ``certs``.
"""
