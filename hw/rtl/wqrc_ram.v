// An activation RAM: one synchronous write port, NR synchronous read ports (data the
// cycle after the address). Written the way Yosys infers block RAM; several read
// ports are served by copies of the memory, each one written alike.
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
    reg [W-1:0] mem [0:DEPTH-1];
    always @(posedge clk)
        if (we) mem[waddr] <= wdata;
    genvar i;
    generate for (i = 0; i < NR; i = i + 1) begin : port
        always @(posedge clk) rdata[i*W +: W] <= mem[raddr[i*AW +: AW]];
    end endgenerate
endmodule
`default_nettype wire
