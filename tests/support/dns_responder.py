"""A tiny DNS server on a thread (UDP and TCP), to stand in for an upstream recursor."""

from __future__ import annotations

import socketserver
import struct
import threading

import dns.message
import dns.rcode
import dns.rrset


class Responder:
    """Answers A questions from ``records`` (name → IPv4), NXDOMAIN for other names.

    With ``rcode`` set it answers every question with that rcode instead.
    ``questions`` lists the names asked, in order.
    """

    def __init__(self, host: str, records: dict[str, str] | None = None,
                 rcode: int | None = None) -> None:
        self.records = {k.lower().rstrip(".") + ".": v for k, v in (records or {}).items()}
        self.rcode = rcode
        self.questions: list[str] = []
        responder = self

        class UDP(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(responder.answer(data), self.client_address)

        class TCP(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                (length,) = struct.unpack(">H", self.rfile.read(2))
                reply = responder.answer(self.rfile.read(length))
                self.wfile.write(struct.pack(">H", len(reply)) + reply)

        self._udp = socketserver.ThreadingUDPServer((host, 0), UDP)
        port = self._udp.server_address[1]
        self._tcp = socketserver.ThreadingTCPServer((host, port), TCP)
        self.host, self.port = host, port
        # A short poll interval keeps shutdown() quick.
        self._threads = [threading.Thread(target=s.serve_forever, args=(0.02,), daemon=True)
                         for s in (self._udp, self._tcp)]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def answer(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        name = str(query.question[0].name).lower()
        self.questions.append(name)
        reply = dns.message.make_response(query)
        if self.rcode is not None:
            reply.set_rcode(self.rcode)
        elif name in self.records:
            reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", self.records[name]))
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply.to_wire()

    def __enter__(self) -> Responder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()
