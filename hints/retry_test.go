package hints

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestRetryEncoding(t *testing.T) {
	t.Parallel()
	r := Retry{
		FirstFailed: time.Unix(815140812, 0),
		LastTry:     time.Unix(815314899, 0),
		NextTry:     time.Unix(815343699, 1),
		Expired:     true,
		Errno:       146,
		MoreErrno:   -77,
		Text:        "Connection refused",
	}
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The times as computed by Python's struct.pack('>q', ns).
	want := []byte{1,
		0x0b, 0x4f, 0xf6, 0x3f, 0xed, 0x2e, 0xf8, 0x00,
		0x0b, 0x50, 0x94, 0x94, 0xb6, 0xfa, 0x7e, 0x00,
		0x0b, 0x50, 0xae, 0xc6, 0x3c, 0xbf, 0x7e, 0x01,
		1, 0, 0, 0, 146, 0xff, 0xff, 0xff, 0xb3}
	want = append(want, "Connection refused"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalBinary:\n got %x\nwant %x", b, want)
	}
	var got Retry
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !got.FirstFailed.Equal(r.FirstFailed) || !got.LastTry.Equal(r.LastTry) || !got.NextTry.Equal(r.NextTry) ||
		got.Expired != r.Expired || got.Errno != r.Errno || got.MoreErrno != r.MoreErrno || got.Text != r.Text {
		t.Errorf("round trip: %+v, want %+v", got, r)
	}
	var zero Retry
	b, _ = Retry{}.MarshalBinary()
	if err := zero.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(zero, Retry{}) {
		t.Errorf("zero round trip: %+v, %v", zero, err)
	}
	if _, err := (Retry{Errno: 1 << 40}).MarshalBinary(); err == nil {
		t.Error("out-of-range errno accepted")
	}
	for _, bad := range [][]byte{nil, want[:33], append([]byte{2}, want[1:]...), func() []byte { c := bytes.Clone(want); c[25] = 2; return c }()} {
		if err := zero.UnmarshalBinary(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("UnmarshalBinary(%x): err = %v", bad, err)
		}
	}
}

func TestGetPutRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := NewMemory()
	r := Retry{FirstFailed: time.Unix(100, 0), NextTry: time.Unix(200, 0), Errno: 111, Text: "refused"}
	if err := PutRetry(ctx, db, "T:mx.example:192.0.2.1", r, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := GetRetry(ctx, db, "T:mx.example:192.0.2.1")
	if err != nil || !ok || !got.NextTry.Equal(r.NextTry) || got.Text != "refused" || got.Errno != 111 {
		t.Fatalf("GetRetry = %+v, %v, %v", got, ok, err)
	}
	if raw, ok, _ := db.Get(ctx, "retry:T:mx.example:192.0.2.1"); !ok || len(raw) != 34+7 {
		t.Errorf("stored under %q: %v %d bytes", "retry:T:mx.example:192.0.2.1", ok, len(raw))
	}
	if _, ok, err := GetRetry(ctx, db, "R:nowhere"); ok || err != nil {
		t.Errorf("missing: %v %v", ok, err)
	}
	if err := db.Put(ctx, "retry:R:bad", []byte("junk"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = GetRetry(ctx, db, "R:bad")
	if !errors.Is(err, ErrCorrupt) || err.Error() != `hints: corrupt record: retry record of 4 bytes (key "retry:R:bad")` {
		t.Errorf("corrupt: %v", err)
	}
}

func FuzzRetryUnmarshal(f *testing.F) {
	b, _ := Retry{FirstFailed: time.Unix(1, 2), Errno: -1, Text: "x"}.MarshalBinary()
	f.Add(b)
	b, _ = Retry{}.MarshalBinary()
	f.Add(b)
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Retry
		if err := r.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gives %x, %v", b, again, err)
		}
	})
}
