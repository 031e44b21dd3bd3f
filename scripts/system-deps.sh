#!/usr/bin/env bash
# Debian packages the tests need, installing only what is missing: Chromium (browser tests, PDF report) and
# Java 17 (Spark: tests/test_spark_parity.py, the app on spark://). Arguments pick them: chromium, java
# (default: both).
set -euo pipefail
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(chromium java)
missing=()
for what in "${wanted[@]}"; do
  case "$what" in
    chromium) [ -x /usr/bin/chromium ] || missing+=(chromium) ;;
    java) command -v java >/dev/null || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || missing+=(openjdk-17-jre-headless) ;;
    *) echo "system-deps.sh: unknown package group $what" >&2; exit 2 ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
