// An activation RAM: one synchronous write port, NR synchronous read ports (data the
// cycle after the address), written the way Yosys infers block RAM. The NR read ports
// are NR explicit copies (banks) written alike.
`default_nettype none
module wqrc_ram #(
    parameter integer W = 8,        // element width
    parameter integer DEPTH = 256,  // elements
    parameter integer AW = 8,       // address width
    parameter integer NR = 1        // read ports
) (
    input  wire             clk,
    input  wire             we,
    input  wire [AW-1:0]    waddr,
    input  wire [W-1:0]     wdata,
    input  wire [NR*AW-1:0] raddr,
    output reg  [NR*W-1:0]  rdata
);
    // one memory per read port (a bank), each written alike: every bank is the plain
    // one-write, one-read RAM that block RAM implements, whatever the tool
    genvar i;
    generate for (i = 0; i < NR; i = i + 1) begin : bank
        reg [W-1:0] mem [0:DEPTH-1];
        always @(posedge clk) begin
            if (we) mem[waddr] <= wdata;
            rdata[i*W +: W] <= mem[raddr[i*AW +: AW]];
        end
    end endgenerate
endmodule
`default_nettype wire
