module bamboo-bench-net

go 1.19
