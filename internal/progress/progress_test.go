package progress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBar(terminal bool, total int64) (*Bar, *bytes.Buffer, *fakeClock) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	b := New(&buf, "dl", total, Options{Terminal: terminal, Interval: time.Second, Width: 10, Now: clk.Now})
	return b, &buf, clk
}

// TestNotTerminal: nothing at all is written when the output is not a
// terminal, whatever happens.
func TestNotTerminal(t *testing.T) {
	b, buf, clk := newTestBar(false, 100)
	for range 5 {
		clk.Advance(time.Hour)
		b.Write(make([]byte, 30))
		b.Add(1, 1)
		b.Clear()
	}
	b.Done()
	var logs bytes.Buffer
	slog.New(Handler(slog.NewTextHandler(&logs, nil), b)).Info("hello")
	if buf.Len() != 0 {
		t.Errorf("wrote %q on a non-terminal", buf.String())
	}
	if !strings.Contains(logs.String(), "msg=hello") {
		t.Errorf("log record lost: %q", logs.String())
	}
}

func TestTerminal(t *testing.T) {
	b, buf, clk := newTestBar(true, 4<<20)
	b.Write(make([]byte, 1<<20)) // before the first interval: nothing
	if buf.Len() != 0 {
		t.Fatalf("drew before the first interval: %q", buf.String())
	}
	clk.Advance(time.Second)
	b.Write(make([]byte, 1<<20))
	want := "\rdl [=====>    ]  50%  2.0 MiB / 4.0 MiB"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Fatalf("first drawing (-want +got):\n%s", d)
	}
	// Rate limit: many writes within the interval draw nothing more.
	buf.Reset()
	for range 100 {
		b.Write(make([]byte, 1000))
	}
	if buf.Len() != 0 {
		t.Errorf("drew within the interval: %q", buf.String())
	}
	b.Add(2<<20-100*1000, 0)
	b.Done()
	want = "\rdl [==========] 100%  4.0 MiB / 4.0 MiB\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("final drawing (-want +got):\n%s", d)
	}
	buf.Reset()
	clk.Advance(time.Hour)
	b.Add(1, 0)
	b.Done()
	if buf.Len() != 0 {
		t.Errorf("drew after Done: %q", buf.String())
	}
}

// TestQuickOperationDrawsNothing: an operation that ends within the first
// interval leaves the terminal untouched.
func TestQuickOperationDrawsNothing(t *testing.T) {
	b, buf, _ := newTestBar(true, 10)
	b.Write(make([]byte, 10))
	b.Done()
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

func TestCountingAndPadding(t *testing.T) {
	b, buf, clk := newTestBar(true, 0)
	var got []string
	step := func(n int64, items int) {
		buf.Reset()
		clk.Advance(time.Second)
		b.Add(n, items)
		got = append(got, buf.String())
	}
	step(1000, 0)
	step(1<<20-1-1000, 2)
	step(1, 0)
	want := []string{
		"\rdl 1000 B",
		"\rdl 2 files, 1024.0 KiB",
		"\rdl 2 files, 1.0 MiB   ", // spaces erase the longer previous line
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("drawings (-want +got):\n%s", d)
	}
}

func TestClearAndHandler(t *testing.T) {
	b, buf, clk := newTestBar(true, 100)
	clk.Advance(time.Second)
	b.Add(50, 0)
	logger := slog.New(Handler(slog.NewTextHandler(buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}), b))
	logger.With("k", "v").WithGroup("g").Warn("careful", "x", 1)
	want := "\rdl [=====>    ]  50%  50 B / 100 B" + "\r" + strings.Repeat(" ", 34) + "\r" +
		"level=WARN msg=careful k=v g.x=1\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	buf.Reset()
	b.Clear() // nothing drawn any more: nothing to erase
	if buf.Len() != 0 {
		t.Errorf("second Clear wrote %q", buf.String())
	}
	if !slog.New(Handler(slog.NewTextHandler(io.Discard, nil), b)).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled does not follow the wrapped handler")
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {1 << 50, "1.0 PiB"}, {1 << 62, "4096.0 PiB"},
	} {
		if got := Size(tc.n); got != tc.want {
			t.Errorf("Size(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func Example() {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	bar := New(&out, "downloading webkit-26.3-b.tar.gz", 5<<20, Options{
		Terminal: true, // term.IsTerminal(int(os.Stderr.Fd())) in a program
		Now:      func() time.Time { return now },
	})
	for range 5 {
		now = now.Add(time.Second)
		io.Copy(bar, bytes.NewReader(make([]byte, 1<<20)))
	}
	bar.Done()
	for _, line := range strings.Split(out.String(), "\r")[1:] {
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "downloading webkit-26.3-b.tar.gz [====>                   ]  20%  1.0 MiB / 5.0 MiB"
	// "downloading webkit-26.3-b.tar.gz [=========>              ]  40%  2.0 MiB / 5.0 MiB"
	// "downloading webkit-26.3-b.tar.gz [==============>         ]  60%  3.0 MiB / 5.0 MiB"
	// "downloading webkit-26.3-b.tar.gz [===================>    ]  80%  4.0 MiB / 5.0 MiB"
	// "downloading webkit-26.3-b.tar.gz [========================] 100%  5.0 MiB / 5.0 MiB"
	// "downloading webkit-26.3-b.tar.gz [========================] 100%  5.0 MiB / 5.0 MiB\n"
}
