package devicecli

import (
	"context"
	"testing"
	"time"
)

func TestTUFClientFaketime(t *testing.T) {
	e := &Env{Getenv: func(k string) string {
		if k == "FAKETIME" {
			return "@2001-01-01 00:00:00"
		}
		return ""
	}, Now: func() time.Time { return time.Unix(0, 0) }}
	got, err := tufClientNow(context.Background(), e)
	if err != nil {
		t.Skip("no date command:", err)
	}
	// Without libfaketime loaded, date prints the real time: what matters
	// is that it, not e.now, was asked.
	if got.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("reference time %v did not come from date", got)
	}
}
