#!/usr/bin/env python3
"""Drives the chat page of `netkit ws listen --chat` in headless Chromium.

Usage: chat.py BASE_URL SCREENSHOT_DIR [NO_WS_BASE_URL]

Three tabs: one page on WebSocket, one on long polling, one on polling
(250 ms). Prints READY once all three are connected, then waits for a
message from the `netkit ws connect` client the caller runs ("from cli"),
then each page says "from <its name>" in turn, each waiting until every
page shows it. Checks that every page shows all four messages once, in one
order. Then the transports are switched live (the polling page to
WebSocket, the WebSocket page to polling) and one more message must reach
every page once. With NO_WS_BASE_URL (a server refusing WebSockets on /), a
page asked for WebSocket must fall back to long polling and still chat.
Saves screenshots and prints DONE (exit 0), or fails (exit 1).
"""
import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

TIMEOUT = 30


def wait(what, cond):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    base, shots = sys.argv[1], sys.argv[2]
    opts = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-background-timer-throttling",
                 "--disable-renderer-backgrounding",
                 "--window-size=900,600"):
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="netkit-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        try:
            open(path).close()
            opts.binary_location = path
            break
        except OSError:
            pass
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        pages = [("pw", "ws", ""), ("pl", "long", ""), ("pp", "poll", "&interval=250")]
        handles = []
        for i, (name, transport, extra) in enumerate(pages):
            if i > 0:
                driver.switch_to.new_window("tab")
            driver.get(f"{base}/?transport={transport}&name={name}{extra}")
            handles.append(driver.current_window_handle)

        def on(i, script):
            driver.switch_to.window(handles[i])
            return driver.execute_script(script)

        def connected(i):
            t = pages[i][1]
            if t == "ws":
                return on(i, "return !!(window.chat && chat.transport === 'ws' && chat.ws && chat.ws.readyState === 1)")
            # A poller is connected once it has asked at least once.
            return on(i, f"return !!(window.chat && chat.transport === '{t}' && chat.requests > 0)")

        for i in range(len(pages)):
            wait(f"page {pages[i][0]} to connect", lambda i=i: connected(i))
        print("READY", flush=True)

        def texts(i):
            return on(i, "return chat.messages.map(m => [m.seq, m.from, m.text])")

        def everyone_has(text):
            return all(any(m[2] == text for m in texts(i)) for i in range(len(pages)))

        wait("the cli message on every page", lambda: everyone_has("from cli"))
        for i, (name, _, _) in enumerate(pages):
            driver.switch_to.window(handles[i])
            box = driver.find_element(By.ID, "text")
            box.send_keys(f"from {name}")
            box.send_keys(Keys.ENTER)
            wait(f"'from {name}' on every page", lambda name=name: everyone_has(f"from {name}"))

        expected = [["cli", "from cli"], ["pw", "from pw"], ["pl", "from pl"], ["pp", "from pp"]]
        seen = []
        for i, (name, transport, _) in enumerate(pages):
            msgs = texts(i)
            got = [[m[1], m[2]] for m in msgs]
            seqs = [m[0] for m in msgs]
            if got != expected or seqs != sorted(set(seqs)):
                raise SystemExit(f"page {name} ({transport}) saw {msgs}, expected {expected}")
            stats = on(i, "return {requests: chat.requests, empty: chat.empty, lat: chat.messages.map(m => m.latency)}")
            seen.append({"page": name, "transport": transport, **stats})
            driver.save_screenshot(f"{shots}/chat-browser-{transport}.png")
        print(json.dumps(seen), flush=True)

        # Switch live: polling -> WebSocket, WebSocket -> polling.
        for i, t in ((2, "ws"), (0, "poll")):
            on(i, f"document.getElementById('transport').value = '{t}';"
                  "document.getElementById('transport').dispatchEvent(new Event('change'))")
        wait("the switched pages to connect",
             lambda: on(2, "return chat.transport === 'ws' && chat.ws && chat.ws.readyState === 1")
             and on(0, "return chat.transport === 'poll'"))
        driver.switch_to.window(handles[2])
        box = driver.find_element(By.ID, "text")
        box.send_keys("after the switch")
        box.send_keys(Keys.ENTER)
        wait("'after the switch' on every page", lambda: everyone_has("after the switch"))
        for i in range(len(pages)):
            got = [[m[1], m[2]] for m in texts(i)]
            if got != expected + [["pp", "after the switch"]]:
                raise SystemExit(f"page {pages[i][0]} after the switch saw {got}")

        if len(sys.argv) > 3:
            driver.switch_to.new_window("tab")
            driver.get(f"{sys.argv[3]}/?transport=ws&name=fb")
            wait("the fallback to long polling",
                 lambda: driver.execute_script("return !!(window.chat && chat.transport === 'long' && chat.requests > 0)"))
            box = driver.find_element(By.ID, "text")
            box.send_keys("fell back")
            box.send_keys(Keys.ENTER)
            wait("'fell back' on the fallback page", lambda: driver.execute_script(
                "return chat.messages.some(m => m.text === 'fell back')"))
            driver.save_screenshot(f"{shots}/chat-browser-fallback.png")
            print("FALLBACK OK", flush=True)
        print("DONE", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
