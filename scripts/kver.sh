#!/bin/sh
# Print the release of the Debian kernel the module is built and tested
# against: the one linux-image-amd64 depends on (not the host's uname -r).
set -eu
dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
	sed -n 's/.*linux-image-\([0-9][^ ,]*-amd64\).*/\1/p')
if [ -n "$dep" ] && [ -d "/lib/modules/$dep" ]; then
	echo "$dep"
	exit 0
fi
ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -n 1
