module github.com/exigo-mta/exigo

go 1.26.0

require (
	github.com/emersion/go-message v0.18.2
	golang.org/x/sys v0.49.0
)

require (
	github.com/PowerDNS/lmdb-go v1.9.4
	github.com/miekg/dns v1.1.73
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/redis/go-redis/v9 v9.17.2
)

require (
	golang.org/x/net v0.57.0 // indirect
	gopkg.in/yaml.v3 v3.0.1
)
