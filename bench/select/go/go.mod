module bamboo/bench/select/go

go 1.23
