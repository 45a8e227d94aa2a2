# Frozen modules of the emulated boards' firmware: only the boot script. (The port's default
# manifest also asks for micropython-lib's unittest, which a release tarball lacks.)
module("_boot.py")
