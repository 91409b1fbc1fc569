// The registers behind the shared done and write-port outputs (wqrc_engine_ports.vh), for an
// engine that drives them from its own pipeline: included first in its body, it writes
// done_q, we_q and waddr_q.
    reg done_q, we_q;
    reg [OUT_AW-1:0] waddr_q;
    assign done = done_q;
    assign out_we = we_q;
    assign out_addr = waddr_q;
