"""The aiohttp transport under python-telegram-bot: requests as PTB sends them, uploads,
and every transport failure as the error PTB's retries understand, never with the token."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest
from telegram import Bot, InputFile
from telegram.error import NetworkError, TimedOut

from bot.telegram_transport import AiohttpRequest
from tests.fake_telegram import FakeTelegram
from tests.httpserver import LocalServer, closed_port_url, json_handler

TOKEN = "123:SECRET-token"


def on(url: str, request: AiohttpRequest) -> Bot:
    return Bot(TOKEN, base_url=f"{url}/bot", request=request, get_updates_request=request)


def test_bot_api_calls_go_through_and_come_back_as_ptb_objects():
    async def talk(url: str) -> None:
        async with on(url, AiohttpRequest()) as bot:
            sent = await bot.send_message(7, "<b>hi</b> & 42", parse_mode="HTML")
            assert sent.text == "<b>hi</b> & 42" and sent.chat.id == 7

    with FakeTelegram() as fake:
        fake.token = TOKEN
        asyncio.run(talk(fake.api_url))
        [call] = fake.calls("sendMessage")
    assert call["params"] == {"chat_id": 7, "text": "<b>hi</b> & 42", "parse_mode": "HTML"}


def test_a_file_is_uploaded_as_multipart():
    seen: list[tuple[str, bytes]] = []

    def answer(_verb, path, headers, body):
        if path.endswith("/getMe"):
            return 200, {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "B",
                                                "username": "b"}}
        seen.append((headers.get("Content-Type", ""), body))
        return 200, {"ok": True, "result": {"message_id": 1, "date": 0,
                                            "chat": {"id": 7, "type": "private"},
                                            "document": {"file_id": "f", "file_unique_id": "u"}}}

    async def upload(url: str) -> None:
        async with on(url, AiohttpRequest()) as bot:
            await bot.send_document(7, InputFile(b"a,b\n1,2\n", filename="taste.csv"))

    with LocalServer(json_handler(answer)) as server:
        asyncio.run(upload(server.url))
    [(content_type, body)] = seen
    assert content_type.startswith("multipart/form-data")
    assert b'filename="taste.csv"' in body and b"a,b\n1,2\n" in body


def test_a_refused_connection_is_a_network_error_without_the_token():
    async def call() -> None:
        async with on(closed_port_url(), AiohttpRequest()) as bot:
            await bot.get_me()

    with pytest.raises(NetworkError) as error:
        asyncio.run(call())
    assert not isinstance(error.value, TimedOut)
    assert "SECRET" not in str(error.value)


def test_a_server_that_never_answers_is_a_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # takes the connection and says nothing
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()

    async def call() -> None:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with on(url, AiohttpRequest(read_timeout=0.3)) as bot:
            await bot.get_me()

    try:
        with pytest.raises(TimedOut):
            asyncio.run(call())
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_unused_transport_refuses_requests_until_initialised():
    async def call() -> None:
        await AiohttpRequest().do_request("http://127.0.0.1:1/", "POST")

    with pytest.raises(RuntimeError, match="not initialized"):
        asyncio.run(call())


def test_json_answers_pass_through_byte_for_byte():
    payload = {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Ünï 😀",
                                      "username": "b"}}

    async def call(url: str) -> tuple[int, bytes]:
        request = AiohttpRequest()
        await request.initialize()
        try:
            return await request.do_request(f"{url}/bot{TOKEN}/getMe", "POST")
        finally:
            await request.shutdown()

    with LocalServer(json_handler(lambda *_: (200, payload))) as server:
        status, body = asyncio.run(call(server.url))
    assert status == 200 and json.loads(body) == payload
