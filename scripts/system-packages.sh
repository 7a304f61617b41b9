#!/usr/bin/env bash
# Install the Debian packages a make target needs, only when they are missing.
# Usage: scripts/system-packages.sh run|test|bench
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
python_has_venv() { "${PYTHON:-python3}" -c 'import venv, ensurepip' >/dev/null 2>&1; }

python_has_venv || need+=(python3-venv)
have_cmd npm || need+=(nodejs npm)  # the browser UI's OpenSeadragon comes from the npm registry
case "${1:-run}" in
  test)
    have_cmd dcmdump || need+=(dcmtk)
    have_cmd dciodvfy || need+=(dicom3tools)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
    have_cmd Orthanc || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)  # forwarding peer in tests
    [ -x /usr/bin/chromium ] || need+=(chromium)  # browser UI tests (Playwright drives it)
    have_cmd logger || need+=(bsdutils)  # util-linux logger: syslog over TCP to the event receiver
    ;;
  bench)
    have_cmd storescu || need+=(dcmtk)
    have_cmd Orthanc || need+=(orthanc)
    [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
    [ -x /usr/bin/time ] || need+=(time)          # GNU time: peak RSS of measured processes
    have_cmd OrthancWSIDicomizer || need+=(orthanc-wsi)             # bench/wsi_peers.py
    compgen -G "/usr/lib/*/libturbojpeg.so.0" >/dev/null || need+=(libturbojpeg0)  # wsidicomizer
    have_cmd wrk || need+=(wrk)                                     # bench/wado_bench.py load
    have_cmd nginx || [ -x /usr/sbin/nginx ] || need+=(nginx-light) # bench/wado_bench.py ceiling
    ;;
esac

[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing system packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
