// Package atomicfile replaces files so that a crash leaves either the old
// content or the new one, never a mix: the one write path for every piece
// of trusted state in bsi (the device agent's journal and configuration,
// the client's trusted metadata, the publisher's workspace).
//
// # The steps
//
//  1. create ".<name>.tmp-<random>" in the same directory (O_EXCL);
//  2. write the content and set the permissions;
//  3. fsync the file;
//  4. rename it over <name> (atomic on POSIX file systems);
//  5. fsync the directory, so that the rename itself is durable.
//
// A failure before step 4 removes the temporary file and leaves <name> as
// it was. Callers that make many files durable together may skip steps 3
// and 5 (Write with durable false) and sync later themselves.
//
// Temporary names start with "." and contain ".tmp-", so that a clean-up
// after a crash can find them.
//
// # Example
//
//	err := atomicfile.WriteFile("state/installed.json", data, 0o644)
package atomicfile
