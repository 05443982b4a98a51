#!/usr/bin/env bash
# Installs what the cross-client tests need, if it is missing:
#  - the AWS CLI v2 from Debian's package awscli (/usr/bin/aws; it speaks the
#    Query protocol to SQS), with apt-get when run as root or with sudo;
#  - the AWS SDK for JavaScript v3, pinned by cloud/crossclient/js/package-lock.json.
# Without them the cross-client tests skip on a developer's machine and fail
# in CI (CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
	else return 1
	fi
}

if [ ! -x /usr/bin/aws ]; then
	if as_root true; then
		echo "test-deps: installing the AWS CLI v2 (Debian package awscli)"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends awscli >/dev/null
	else
		echo "test-deps: cannot install awscli without root; its cross-client tests will be skipped"
	fi
fi

if command -v npm >/dev/null 2>&1; then
	if [ ! -d cloud/crossclient/js/node_modules ]; then
		echo "test-deps: installing the AWS SDK for JavaScript v3 (npm ci)"
		(cd cloud/crossclient/js && npm ci --no-audit --no-fund --loglevel=error)
	fi
else
	echo "test-deps: npm not found; the JavaScript cross-client tests will be skipped"
fi
