#!/bin/sh
# Install Debian's Chromium for the headless report checks (tests/test_report_browser.py) when it is missing.
# Playwright drives this system browser (executable_path=/usr/bin/chromium); no browser is downloaded by
# Playwright itself. Needs root (containers, CI) or sudo; on other systems install chromium yourself.
set -eu
if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium || echo /usr/bin/chromium)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: no apt-get here; install Chromium with your package manager" \
         "(the browser tests skip without it)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_browser.sh: not root and no sudo; run 'apt-get install -y chromium' as root" >&2
        exit 1
    fi
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
echo "chromium installed: $(command -v chromium)"
