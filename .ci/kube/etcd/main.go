// Command etcd: the upstream etcd server entry point, linked from go.etcd.io/etcd/server/v3 for tests on loopback.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
