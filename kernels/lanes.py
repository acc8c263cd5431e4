"""Sums of a few neighbouring float64 values as one vector operation.

A stage holds about T/K frames, too few for LLVM's vectorized loops, which
would leave them to a scalar loop where every addition waits on the one
before.  :func:`lane_sum` adds up to LANES values with one vector load, a
mask and a fixed tree of additions, so the result does not depend on the
CPU's vector width or on where the values sit in memory.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Values per vector.  The array read by lane_sum needs LANES - 1 readable
# entries past the last value it sums (a padded scratch buffer).
LANES = 8


@intrinsic
def lane_sum(typingctx, values, start, count):
    """values[start] + ... + values[start + min(count, LANES) - 1].

    ``values`` is a contiguous float64 array whose memory extends at least
    LANES entries past ``start``; the lanes at and after ``count`` are read
    and masked to zero.  Summed as the tree ((v0 + v4) + (v2 + v6)) +
    ((v1 + v5) + (v3 + v7)), without reordering.
    """
    if not (isinstance(values, types.Array) and values.dtype == types.float64 and values.ndim == 1
            and values.layout == "C"):
        return None
    sig = types.float64(values, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        first = context.cast(builder, args[1], signature.args[1], types.intp)
        n = context.cast(builder, args[2], signature.args[2], types.intp)
        vector = ir.VectorType(ir.DoubleType(), LANES)
        where = builder.bitcast(builder.gep(array.data, [first]), vector.as_pointer())
        v = builder.load(where, align=8)
        index_type = ir.VectorType(n.type, LANES)
        lane = ir.Constant(index_type, list(range(LANES)))
        splat = builder.insert_element(ir.Constant(index_type, ir.Undefined), n, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, splat, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))
        v = builder.select(builder.icmp_signed("<", lane, splat), v, ir.Constant(vector, [0.0] * LANES))
        width = LANES
        while width > 1:
            width //= 2
            mask = ir.VectorType(ir.IntType(32), width)
            low = builder.shuffle_vector(v, v, ir.Constant(mask, list(range(width))))
            high = builder.shuffle_vector(v, v, ir.Constant(mask, list(range(width, 2 * width))))
            v = builder.fadd(low, high)
        return builder.extract_element(v, ir.Constant(ir.IntType(32), 0))

    return sig, codegen
