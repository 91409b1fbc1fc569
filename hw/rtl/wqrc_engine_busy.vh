// busy: high from an engine's start until its done (the last write is in and its pipeline is
// empty); done wins over a start in the same cycle, as over everything but reset.
    reg busy;
    always @(posedge clk) busy <= !rst && !done && (start || busy);
