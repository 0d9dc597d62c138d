// Package progress draws a one-line progress bar for long operations
// (payload downloads, publishing many files) on a terminal, and nothing at
// all when the output is not one, so that logs and pipes never receive
// control characters.
//
// # Format
//
// A bar is one line, redrawn in place with a carriage return and padded
// with spaces to erase what the previous drawing left:
//
//	\rdownloading webkit-26.3-b.tar.gz [=========>          ]  48%  2.4 MiB / 5.0 MiB
//
// With an unknown total (Total 0) it counts instead:
//
//	\rpublishing 1250 files, 61.2 MiB
//
// Redraws are rate-limited (Options.Interval, 100 ms by default) and the
// first one waits one interval, so an operation that finishes quickly draws
// nothing. Done draws the final state followed by a newline, only when
// something was drawn before. Handler wraps a slog.Handler so that a log
// record first erases the bar, and the record is not printed over it.
//
// # Worked example
//
//	bar := progress.New(os.Stderr, "downloading x.tar.gz", resp.ContentLength,
//		progress.Options{Terminal: term.IsTerminal(int(os.Stderr.Fd()))})
//	_, err := io.Copy(dst, io.TeeReader(resp.Body, bar))
//	bar.Done()
package progress
