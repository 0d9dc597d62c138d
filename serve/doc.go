// Package serve serves a published bsi repository over HTTP.
//
// A published tree is static: versioned metadata (N.root.json,
// N.snapshot.json, N.webkit.json), one unversioned timestamp.json, and
// payloads under targets/ named by their hash. The handler serves exactly
// those files and nothing else:
//
//   - GET and HEAD only; no directory listings; dot-files are not served.
//   - Paths are confined to the tree with an [os.Root]: ".." segments,
//     absolute paths and symbolic links that leave the tree are refused.
//   - Only regular files are opened, and the type is checked before the
//     open, which never blocks: a named pipe or device in the tree is a
//     404 at once, not a request (and a thread) waiting for ever.
//   - Keys are never published: NewHandler refuses (UnsafeTreeError,
//     naming the file) a directory holding a workspace (workspace.json),
//     a *.key file or a file starting with a PEM private key header, at
//     its top or below (the first 20,000 entries; dot-entries, never
//     served, are skipped), so neither a workspace nor its parent can be
//     served; and a file whose first bytes are a PEM private key header is
//     a 404 whenever it is requested, even if it appeared after the start.
//   - Caching follows what can change. timestamp.json and every other
//     unversioned name (root.json, a plain targets.json) get
//     "Cache-Control: no-cache", so a CDN revalidates them on every request
//     and a client never sees a stale timestamp from a cache. Versioned
//     metadata (a name starting "N.") and hashed payloads
//     (targets/.../HASH.NAME) never change once published and get
//     "Cache-Control: public, max-age=31536000, immutable".
//   - Every file has a strong ETag (the SHA-256 of its content), and
//     If-None-Match is answered with 304 Not Modified.
//   - Metadata is served as application/json, archives as application/gzip
//     or application/x-tar, everything with X-Content-Type-Options: nosniff.
//
// The server sets read-header, read, write and idle timeouts so that slow
// clients cannot hold connections forever, logs every request with
// log/slog, answers /healthz, and shuts down gracefully when its context is
// cancelled.
//
// # Limits and load
//
// Every connection has a goroutine of its own, so slow clients do not
// delay others; what bounds them is time. A request header must arrive
// within ReadHeaderTimeout (a client dripping it one byte per second is cut
// off then) and be at most 16 KiB (net/http allows 4 KiB more; beyond that
// 431). A keep-alive connection left idle is closed after IdleTimeout. On
// shutdown, requests still running after ShutdownTimeout (a client that
// stopped reading a large payload) have their connections closed, so
// nothing of the server outlives ListenAndServe.
//
// # Files kept in memory
//
// A fleet mostly asks for the same few small files (timestamp.json above
// all, with If-None-Match), so files up to 1 MiB are kept in memory, 64
// MiB in all, with their ETag and header values: a request for one of them
// costs one stat of its name in the tree and no open, read or hash. The
// name is still resolved in the tree (through the [os.Root]) on every
// request, so whatever is refused above is refused at once, and the
// content in memory is used only while the name leads to a file of the
// same identity: device, inode, size, modification time and (on Linux)
// change time. A new timestamp.json renamed into place is another inode; a
// file rewritten in place, even to the same size and with its modification
// time set back, has a new change time, which no program can set; either
// way the file is read again, and checked again for a private key, before
// it is sent. What this cannot see is a rewrite in place within the same
// tick of the file system's clock as the last look at the file, with the
// size and the modification time kept (kernels before Linux 6.13, which
// gives a file looked at a fine-grained change time at its next change).
// Plain and If-None-Match requests are answered from memory directly;
// others (ranges, dates, If-Match) by http.ServeContent over the content
// in memory, with the same result as from the file. Larger files are sent
// from the file (sendfile where the system has it), their ETag cached by
// name and the same identity.
//
// # The fast path
//
// Nearly every request of a fleet is a plain HTTP/1.1 GET of a small file on
// a keep-alive connection, most with the If-None-Match of the last answer,
// and net/http's own work per request (a goroutine watching the connection,
// a context, header maps, sorting and formatting the answer's header) costs
// more than the answer. So ListenAndServe, without TLS, reads requests
// itself and answers those it fully understands from memory, with header
// bytes built once per file and one write per answer: a GET or HEAD in
// HTTP/1.1 of a plain path (no escapes, no query) with exactly one Host, no
// body and no header it would have to interpret besides If-None-Match (one
// ETag, or none) and Connection, for a file kept in memory or /healthz. The
// file is resolved in the tree on every request with the same checks as
// above, in the same order: a name at the top of the tree with one fstatat
// on the tree's directory that follows no link, a deeper one (a payload)
// with openat2 beneath that directory refusing every link
// (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, O_PATH: nothing is opened for
// reading), fstat and close, and a name with a link on its way through the
// [os.Root], which follows links inside the tree. Everything else (another
// method or version, a body, a range, a date condition, an ETag list, a
// header net/http would refuse, a missing, refused or large file) hands the
// connection, with the bytes it read, to net/http, which serves it from then
// on, so those keep net/http's behaviour, errors included: the tests compare
// both answers, header by header, over real connections, and fuzz the
// request parser against net/http's. The timeouts are the same
// (ReadHeaderTimeout for a request's head, IdleTimeout between requests,
// WriteTimeout for an answer), and so is the access log. Its sockets (and
// the stat) are read and written with raw system calls through the runtime's
// poller, on Linux: they never block, and the scheduler bookkeeping of a
// system call costs more than the call itself on a small busy machine (it
// wakes the runtime's monitor thread). A connection is served inside one raw
// read loop for its whole life, so a read that emptied the socket is
// followed by a wait for bytes, not by a read bound to fail: one read, one
// stat and one write per request. With TLS, net/http serves everything (and
// HTTP/2).
//
// The tests prove these with real connections on 127.0.0.1: 200 slow-header
// clients beside a working one, oversized headers, an idle connection, a
// stalled download at shutdown, and a fleet's load (package loadgen: mostly
// conditional timestamp polls, 304) on the demo's published tree, after
// which the process must hold no more goroutines or file descriptors than
// before. "bsi load" and .ci/load measure it beside nginx: rounds of each,
// alternating, with the median ratio of requests per second and each
// server's CPU time per request.
//
// # Example
//
//	err := serve.ListenAndServe(ctx, serve.Options{
//		Dir:    "repo/public",
//		Addr:   "127.0.0.1:8080",
//		Logger: logger,
//	})
package serve
