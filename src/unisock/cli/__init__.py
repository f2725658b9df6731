"""The ``unisock`` command line: a netcat for every transport, built on the public API only.

One module per concern: ``args`` (the parser), ``run`` (loop, errors, Ctrl-C), ``options``
(flags to ``SocketInit``), ``stdio`` (stdin/stdout as streams), ``connect``, ``listen``,
``transfer`` (send/recv), ``progress``, ``info``, ``demo``, ``bench``, ``certs``.
"""
