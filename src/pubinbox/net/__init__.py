"""What the mail-protocol servers of ``pubinbox serve`` share: listener
specs (:mod:`.listeners`), bounded line I/O with COMPRESS and TLS
(:mod:`.lineio`) and the read-only archive they serve (:mod:`.archive`)."""
