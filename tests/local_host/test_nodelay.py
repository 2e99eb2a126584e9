"""The local host's connections send small writes at once (TCP_NODELAY): a response's body,
written after its headers on a kept-alive connection, must not wait for the client's delayed ACK
(40 ms per request before; the chat benchmark counted it as the app's overhead)."""

from __future__ import annotations

import asyncio
import socket

from local_host.server import bind_socket


def test_the_listening_socket_names_tcp_so_that_asyncio_turns_nagle_off() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_accepted_connections_have_tcp_nodelay() -> None:
    async def scenario() -> int:
        sock = bind_socket("127.0.0.1", 0)
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        try:
            port = sock.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, 10)
            writer.close()
            return value
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) != 0
