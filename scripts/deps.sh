#!/usr/bin/env bash
# make deps: installs what the cross-client tests drive, if it is missing:
#  - the AWS CLI v2 from Debian's package awscli (/usr/bin/aws; it speaks the
#    Query protocol to SQS), with apt-get, as root or with sudo;
#  - the AWS SDK for JavaScript v3, pinned by cloud/crossclient/js/package-lock.json,
#    with npm ci (Node.js and npm must be installed);
#  - qemu-user-static (Debian's package: qemu-aarch64-static), with apt-get,
#    so that the function host runs the arm64 bootstrap shipped to AWS on a
#    machine of another architecture (not needed on an arm64 machine);
#  - chromium (Debian's package), with apt-get, which the web console's
#    browser tests drive through the DevTools protocol (chromedp).
# Both need the network (Debian's mirrors, the npm registry). Without them the
# cross-client tests skip on a developer's machine, saying what is missing,
# and fail in CI (CI=true). Exits non-zero when it could not install one.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
	else return 1
	fi
}

failed=0

# The tests take /usr/bin/aws, or an aws on PATH, that says aws-cli/2.
awsv2=""
for aws in /usr/bin/aws "$(command -v aws || true)"; do
	if [ -n "$aws" ] && [ -x "$aws" ] && "$aws" --version 2>/dev/null | grep -q '^aws-cli/2\.'; then
		awsv2=$aws; break
	fi
done

if [ -n "$awsv2" ]; then
	echo "deps: the AWS CLI v2 is installed ($awsv2)"
elif as_root true; then
	echo "deps: installing the AWS CLI v2 (Debian package awscli, apt-get)"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends awscli >/dev/null
else
	echo "deps: cannot install the AWS CLI v2 without root: run sudo make deps, or apt-get install awscli as root" >&2
	failed=1
fi

if [ "$(uname -m)" = aarch64 ] || [ "$(uname -m)" = arm64 ]; then
	echo "deps: this machine is arm64: no emulator needed for the arm64 bootstrap"
elif command -v qemu-aarch64-static >/dev/null 2>&1; then
	echo "deps: qemu-user-static is installed ($(command -v qemu-aarch64-static))"
elif as_root true; then
	echo "deps: installing qemu-user-static (Debian package, apt-get), to run the arm64 bootstrap"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
else
	echo "deps: cannot install qemu-user-static without root: run sudo make deps, or apt-get install qemu-user-static as root" >&2
	failed=1
fi

if command -v chromium >/dev/null 2>&1; then
	echo "deps: chromium is installed ($(command -v chromium))"
elif as_root true; then
	echo "deps: installing chromium (Debian package, apt-get), for the web console's browser tests"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
	echo "deps: cannot install chromium without root: run sudo make deps, or apt-get install chromium as root" >&2
	failed=1
fi

if [ -d cloud/crossclient/js/node_modules/@aws-sdk/client-sqs ]; then
	echo "deps: the AWS SDK for JavaScript v3 is installed (cloud/crossclient/js/node_modules)"
elif command -v npm >/dev/null 2>&1; then
	echo "deps: installing the AWS SDK for JavaScript v3 (cd cloud/crossclient/js && npm ci)"
	(cd cloud/crossclient/js && npm ci --no-audit --no-fund --loglevel=error)
else
	echo "deps: cannot install the AWS SDK for JavaScript v3 without npm: install Node.js and npm (apt-get install nodejs npm as root), then run make deps" >&2
	failed=1
fi

# moto_server: an independent S3 and CloudFormation that orderflow deploy is
# tested against (pip; the machine image has it).
if command -v moto_server >/dev/null 2>&1; then
	echo "deps: moto_server is installed"
elif command -v pip >/dev/null 2>&1 && pip install -q 'moto[server]'; then
	echo "deps: installed moto_server (pip install 'moto[server]')"
else
	echo "deps: cannot install moto_server: pip install 'moto[server]' (its deploy test skips without it, and fails in CI)" >&2
	failed=1
fi

exit "$failed"
