package dev.elirmobile.demo.ui

import android.annotation.SuppressLint
import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.RectF
import android.view.MotionEvent
import android.view.View

/** Before (left of the handle) / after (right) comparison with a draggable divider and a timing overlay. */
class BeforeAfterView(context: Context) : View(context) {
    var before: Bitmap? = null
        set(value) { field = value; invalidate() }
    var after: Bitmap? = null
        set(value) { field = value; invalidate() }
    var overlay: String = ""
        set(value) { field = value; invalidate() }

    private var split = 0.5f
    private val line = Paint().apply { color = Color.WHITE; strokeWidth = 4f }
    private val text = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = Color.WHITE; textSize = 40f; setShadowLayer(4f, 0f, 0f, Color.BLACK) }

    private fun fit(b: Bitmap): RectF {
        val scale = minOf(width.toFloat() / b.width, height.toFloat() / b.height)
        val w = b.width * scale
        val h = b.height * scale
        return RectF((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)
    }

    override fun onDraw(canvas: Canvas) {
        val b = before ?: return
        val dst = fit(b)
        canvas.drawBitmap(b, null, dst, null)
        val a = after
        val x = width * split
        if (a != null) {
            canvas.save()
            canvas.clipRect(x, 0f, width.toFloat(), height.toFloat())
            canvas.drawBitmap(a, null, dst, null)
            canvas.restore()
            canvas.drawLine(x, 0f, x, height.toFloat(), line)
        }
        overlay.lines().forEachIndexed { i, s -> canvas.drawText(s, 24f, 56f + i * 48f, text) }
    }

    @SuppressLint("ClickableViewAccessibility")
    override fun onTouchEvent(event: MotionEvent): Boolean {
        split = (event.x / width).coerceIn(0f, 1f)
        invalidate()
        return true
    }
}
