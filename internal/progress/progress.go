package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Options configures a Bar.
type Options struct {
	// Terminal enables drawing; with it false every method does nothing.
	Terminal bool
	// Interval is the least time between two drawings, and before the
	// first; 0 means 100ms.
	Interval time.Duration
	// Width is the number of cells of the bar; 0 means 24.
	Width int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Bar is one progress line. Its methods are safe for concurrent use.
type Bar struct {
	w     io.Writer
	label string
	total int64
	opts  Options

	mu    sync.Mutex
	done  int64 // bytes
	items int   // files
	last  time.Time
	drawn int // length of the line on screen; 0: nothing drawn
	ever  bool
	ended bool
}

// New returns a bar labelled label counting up to total bytes (0: unknown)
// that draws on w.
func New(w io.Writer, label string, total int64, opts Options) *Bar {
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Width <= 0 {
		opts.Width = 24
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Bar{w: w, label: label, total: total, opts: opts}
	if opts.Terminal {
		b.last = opts.Now()
	}
	return b
}

// Write counts len(p) bytes, so that a Bar can sit behind io.TeeReader or
// io.MultiWriter. It never fails.
func (b *Bar) Write(p []byte) (int, error) {
	b.Add(int64(len(p)), 0)
	return len(p), nil
}

// Add counts n more bytes and items more files, and redraws when the
// interval has passed.
func (b *Bar) Add(n int64, items int) {
	if !b.opts.Terminal {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.items += items
	if b.ended {
		return
	}
	if now := b.opts.Now(); now.Sub(b.last) >= b.opts.Interval {
		b.last = now
		b.draw()
	}
}

// Clear erases the line, if one is drawn, so that other output can be
// written; the next drawing puts it back.
func (b *Bar) Clear() {
	if !b.opts.Terminal {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn > 0 {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", b.drawn))
		b.drawn = 0
	}
}

// Done draws the final state and ends the line, when anything was drawn
// before. Later calls do nothing.
func (b *Bar) Done() {
	if !b.opts.Terminal {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	if b.ever {
		b.draw()
		io.WriteString(b.w, "\n")
		b.drawn = 0
	}
}

// draw writes the line; b.mu is held.
func (b *Bar) draw() {
	line := b.line()
	pad := ""
	if n := b.drawn - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
	b.drawn = len(line)
	b.ever = true
}

// line is the text of the bar.
func (b *Bar) line() string {
	if b.total <= 0 {
		if b.items > 0 {
			return fmt.Sprintf("%s %d files, %s", b.label, b.items, Size(b.done))
		}
		return fmt.Sprintf("%s %s", b.label, Size(b.done))
	}
	done := min(b.done, b.total)
	full := int(done * int64(b.opts.Width) / b.total)
	cells := strings.Repeat("=", full)
	if full < b.opts.Width {
		cells += ">" + strings.Repeat(" ", b.opts.Width-full-1)
	}
	return fmt.Sprintf("%s [%s] %3d%%  %s / %s", b.label, cells, done*100/b.total, Size(done), Size(b.total))
}

// Size formats a byte count for people: "512 B", "1.5 KiB", "2.4 MiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Clearer erases a progress line from the screen: a *Bar, or whatever
// holds the bar of the moment.
type Clearer interface{ Clear() }

var _ Clearer = (*Bar)(nil)

// Handler returns a slog.Handler that erases the line of c before passing
// each record to next, so that log lines written to the same terminal are
// not drawn over a bar (it comes back at its next drawing).
func Handler(next slog.Handler, c Clearer) slog.Handler {
	return &handler{next: next, bar: c}
}

type handler struct {
	next slog.Handler
	bar  Clearer
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.bar.Clear()
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(as), bar: h.bar}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), bar: h.bar}
}
