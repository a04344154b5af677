module bamboo/bench/go

go 1.19
