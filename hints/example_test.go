package hints_test

import (
	"context"
	"fmt"
	"time"

	"github.com/exigo-mta/exigo/hints"
)

func Example() {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	db := hints.NewMemory(hints.WithClock(func() time.Time { return now }))
	defer db.Close()

	_ = db.Put(ctx, "tls:mx1.example.com", []byte("ticket-1"), now.Add(time.Hour))
	_ = db.Put(ctx, "tls:mx2.example.com", []byte("ticket-2"), now.Add(time.Minute))
	_ = hints.PutRetry(ctx, db, "T:mx3.example.com:192.0.2.3", hints.Retry{
		FirstFailed: now, LastTry: now, NextTry: now.Add(15 * time.Minute),
		Errno: 111, Text: "Connection refused",
	}, now.Add(30*24*time.Hour))

	now = now.Add(2 * time.Minute) // mx2's ticket has expired
	_ = db.Range(ctx, "tls:", func(key string, value []byte, expiry time.Time) bool {
		fmt.Printf("%s %s until %s\n", key, value, expiry.UTC().Format(time.TimeOnly))
		return true
	})
	r, ok, _ := hints.GetRetry(ctx, db, "T:mx3.example.com:192.0.2.3")
	fmt.Println(ok, r.Text, "next try", r.NextTry.UTC().Format(time.TimeOnly))
	n, _ := db.Purge(ctx)
	fmt.Println("purged", n)
	// Output:
	// tls:mx1.example.com ticket-1 until 13:00:00
	// true Connection refused next try 12:15:00
	// purged 1
}
