// Package publog is the publisher's side of bsi's transparency log: it
// implements repo.Transparency, which Publish calls when top-level targets
// lists a tlog-policy target.
//
// # Trust model
//
// The log key (an online ed25519 key, like timestamp) signs checkpoints;
// it alone cannot show a device a second history, because devices and
// monitors require a quorum of witness cosignatures, and each witness
// cosigns only checkpoints consistent with the last it cosigned. The log
// content is the journal: every publish reads the leaves back and appends
// only facts not yet logged (an improvement is identified by component,
// path, length, hashes, manifest hash and role, not by role version), so a
// publish interrupted after appending logs nothing twice when run again.
//
// # Files
//
// In the workspace:
//
//	DIR/transparency/config.json     log key reference, origin, witness timeout (bsi repo tlog-enable)
//	DIR/transparency/tlog-policy     the policy, also the tlog-policy target
//	DIR/transparency/log/            the tessera POSIX log (tiles, entry bundles, log-signed checkpoint)
//	DIR/transparency/witnesses.json  the size each witness last cosigned
//
// In the published tree (see package transparency): tlog/tile/...,
// tlog/checkpoint (with the cosignatures) and a .tlog-proof beside every
// payload name of every improvement that is not withdrawn, for example
//
//	c2sp.org/tlog-proof@v1
//	extra YnNpLnRsb2ctZW50cnkvdjEK...            (base64 of the entry)
//	index 1
//	8Lw0ZGNmQt5x1Bu1u4hSY8R8nZ4b0m3Cq5Xb8B1B4kE=  (inclusion proof, leaf to root)
//
//	example.org/bsi-log
//	3
//	2P9gV8z3bQ9jQ1K4x7Xv0cJ7lE2Z6X1H1bq6Yg7w5ss=
//
//	— example.org/bsi-log 1a2b3c4d...
//	— w1 Az3g...                                    (cosignature v1, with its timestamp)
//	— w2 opLq...
package publog
