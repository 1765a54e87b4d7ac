package hints

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestRecordEncoding(t *testing.T) {
	t.Parallel()
	exp := time.Unix(0, 0x0102030405060708)
	b := EncodeRecord([]byte("val"), exp)
	want := []byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 'v', 'a', 'l'}
	if !bytes.Equal(b, want) {
		t.Fatalf("EncodeRecord = %v, want %v", b, want)
	}
	v, ns, err := DecodeRecord(b)
	if err != nil || string(v) != "val" || ns != 0x0102030405060708 {
		t.Fatalf("DecodeRecord = %q, %x, %v", v, ns, err)
	}
	if b := EncodeRecord(nil, time.Time{}); !bytes.Equal(b, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("no expiry: %v", b)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0}, {2, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 0x80, 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, err := DecodeRecord(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeRecord(%v): err = %v", bad, err)
		}
	}
	for in, want := range map[time.Time]int64{
		{}:                0,
		time.Unix(0, 1):   1,
		time.Unix(-5, 0):  1,
		time.Unix(0, 0):   1,
		time.Unix(1e9, 5): 1e18 + 5,
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC): 1<<63 - 1,
	} {
		if got := ExpiryNanos(in); got != want {
			t.Errorf("ExpiryNanos(%v) = %d, want %d", in, got, want)
		}
	}
	if !ExpiryTime(0).IsZero() || !ExpiryTime(5).Equal(time.Unix(0, 5)) {
		t.Error("ExpiryTime")
	}
	now := time.Unix(100, 0)
	if Expired(0, now) || Expired(now.UnixNano()+1, now) || !Expired(now.UnixNano(), now) {
		t.Error("Expired")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeRecord([]byte("value"), time.Unix(1795271106, 0)))
	f.Add(EncodeRecord(nil, time.Time{}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ns, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got := EncodeRecord(v, ExpiryTime(ns)); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %v gives %v", b, got)
		}
	})
}
