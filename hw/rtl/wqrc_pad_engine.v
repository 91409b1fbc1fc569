// Constant padding (docs/format.md section 3g), one output element per cycle in output order:
// the input placed at (PT, PL) in a (H+PT+PB) x (W+PL+PR) map of the code VALUE. Counters give
// the input address: it advances on every element inside the input's window.
`default_nettype none
module wqrc_pad_engine #(
    parameter integer C = 1, H = 1, W = 1,            // the input map
    parameter integer PT = 0, PL = 0, PB = 0, PR = 0, // the border: top, left, bottom, right
    parameter integer VALUE = 0,          // the border's code, in the (unchanged) format
    parameter integer A = 8,              // element bits
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8
) (
`include "wqrc_engine_ports.vh"
    output wire [IN_AW-1:0]  in_addr,
    input  wire [A-1:0]      in_d,
    output wire [A-1:0]      out_d
);
    localparam integer OH = H + PT + PB;
    localparam integer OW = W + PL + PR;
    localparam integer N = C * OH * OW;
    localparam integer IW = $clog2(N + 1) + 1;
    localparam integer XW = $clog2(C * H * W + 1) + 1;
    localparam integer DW = $clog2((OH > OW ? OH : OW) + 1) + 1;
    /* verilator lint_off WIDTH */
    /* verilator lint_off UNSIGNED */
    localparam [A-1:0] BORDER = VALUE;
`include "wqrc_engine_busy.vh"
    reg running;
    reg [IW-1:0] i;                       // output element
    reg [DW-1:0] ox, oy;                  // output column, row
    reg [XW-1:0] addr;                    // input address of the next in_window element
    assign in_addr = addr;
    wire in_window = oy >= PT && oy < PT + H && ox >= PL && ox < PL + W;
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (start) begin
            running <= 1'b1; i <= 0; ox <= 0; oy <= 0; addr <= 0;
        end else if (running) begin
            i <= i + 1'b1;
            if (i == N - 1) running <= 1'b0;
            if (in_window) addr <= addr + 1'b1;
            if (ox == OW - 1) begin
                ox <= 0;
                oy <= oy == OH - 1 ? 0 : oy + 1'b1;
            end else begin
                ox <= ox + 1'b1;
            end
        end
    end

    wqrc_copy_stage #(.A(A), .IW(IW), .OUT_AW(OUT_AW)) out_stage(
        .clk(clk), .rst(rst), .start(start), .busy(busy), .running(running), .take(in_window), .i(i),
        .in_d(in_d), .fill(BORDER), .done(done), .out_we(out_we), .out_addr(out_addr), .out_d(out_d));
    /* verilator lint_on UNSIGNED */
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
