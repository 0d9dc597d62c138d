package transparency_test

import (
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/bsiframework/bsi/transparency/tlogtest"
)

// noteSign signs text as w alone, at ts.
func noteSign(text []byte, w *tlogtest.Witness, ts time.Time) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(text)}, w.At(ts))
}
