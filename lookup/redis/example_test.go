package redis_test

import (
	"fmt"

	"github.com/exigo-mta/exigo/lookup/redis"
)

// A query is a Redis command; Quote makes one argument of data that may
// hold white space or backslashes, as Exim's ${quote_redis:...} does.
func ExampleQuote() {
	key := `John Smith\Sales`
	query := "HGET " + redis.Quote(key) + " mailbox"
	fmt.Println(query)
	fmt.Printf("%q\n", redis.SplitQuery(query))
	// Output:
	// HGET John\ Smith\\Sales mailbox
	// ["HGET" "John Smith\\Sales" "mailbox"]
}

// Server items take Exim's redis_servers form, host:port/database/password.
func ExampleParseServer() {
	for _, item := range []string{"127.0.0.1/10/", "redis.example:6380/2/s3cret", "local(/run/redis/redis.sock)//"} {
		s, err := redis.ParseServer(item)
		fmt.Println(s, s.Password != "", err)
	}
	// Output:
	// 127.0.0.1:6379/10 false <nil>
	// redis.example:6380/2 true <nil>
	// local(/run/redis/redis.sock)/0 false <nil>
}
