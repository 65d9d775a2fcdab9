#!/usr/bin/env python3
"""A real SMTP server for tests: stores every accepted message as a file.

Usage: smtp_sink.py PORT DIRECTORY
       smtp_sink.py --decode FILE.eml   (prints the message decoded, as JSON, for assertions)

Listens on 127.0.0.1:PORT. Each accepted message is written to DIRECTORY as
<n>.eml (the raw message as received) with <n>.rcpt beside it (the envelope recipients, one per
line); the .rcpt file is written last, so a reader that sees it sees a complete message.
Faults, chosen by the recipient's local part:
  reject...  refused with 550 (a permanent failure)
  later...   refused with 451 (a transient one), every time
  once...    refused with 451 the first time this address is given, accepted afterwards
  drop...    the first message for it is stored, then the connection is dropped before the
             answer (the sender cannot know it arrived)
  cut...     the first message for it is lost: the connection drops at the end of the data
Prints "ready" once listening.
"""

import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()
        self.faulted = set()  # (fault, address) pairs already applied once

    def first_time(self, fault, address):
        with self.lock:
            if (fault, address) in self.faulted:
                return False
            self.faulted.add((fault, address))
            return True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("later"):
            return "451 4.3.0 try again later"
        if local.startswith("once") and self.first_time("once", address):
            return "451 4.3.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            local = address.split("@", 1)[0].lower()
            if local.startswith("cut") and self.first_time("cut", address):
                server.transport.abort()
                return "421 4.4.2 connection dropped"
            if local.startswith("drop") and self.first_time("drop", address):
                self.store(envelope)
                server.transport.abort()
                return "421 4.4.2 connection dropped"
        self.store(envelope)
        return "250 Message accepted for delivery"

    def store(self, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.directory, str(n))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(base + ".eml.tmp", base + ".eml")
        with open(base + ".rcpt.tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(envelope.rcpt_tos) + "\n")
        os.replace(base + ".rcpt.tmp", base + ".rcpt")


def decode(path):
    """Parses a stored message with Python's email package and prints what tests check."""
    import email
    import email.policy
    import json

    with open(path, "rb") as f:
        message = email.message_from_binary_file(f, policy=email.policy.default)
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "transfer_encoding": part.get("Content-Transfer-Encoding", ""),
            "content": part.get_content(),
        })
    print(json.dumps({
        "subject": str(message["Subject"]),
        "message_id": str(message["Message-ID"]),
        "from": str(message["From"]),
        "to": [str(a) for a in message.get_all("To", [])],
        "content_type": message.get_content_type(),
        "parts": parts,
    }, ensure_ascii=False))


def main():
    if sys.argv[1] == "--decode":
        decode(sys.argv[2])
        return
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Also stop when the parent closes our standard input (the test process ended).
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
