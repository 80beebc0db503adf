"""One file per revision (a package so that an installed skipcore ships them)."""
