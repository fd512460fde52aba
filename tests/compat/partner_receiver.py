# Python + FastAPI Ejemplo
from fastapi import FastAPI, Request, HTTPException
import hmac
import hashlib
import json
import os

app = FastAPI()

SHARED_SECRET = os.getenv("PARTNER_SHARED_SECRET")

@app.post("/webhooks/events")
async def receive_webhook(request: Request):
    """
    Recibe webhooks de nuestro sistema
    Todos est√°n firmados con HMAC-SHA256
    """

    # 1. Obtener signature del header
    signature = request.headers.get("X-Webhook-Signature")
    event_type = request.headers.get("X-Webhook-Event")

    if not signature or not event_type:
        raise HTTPException(status_code=400, detail="Missing headers")

    # 2. Leer body
    body = await request.json()

    # 3. Validar firma (ver funci√≥n abajo)
    if not verify_signature(body, signature):
        raise HTTPException(status_code=401, detail="Invalid signature")

    # 4. Procesar evento
    if event_type == "payment.success":
        await handle_payment_success(body)
    elif event_type == "booking.confirmed":
        await handle_booking_confirmed(body)
    elif event_type == "payment.failed":
        await handle_payment_failed(body)

    # 5. Responder ACK
    return {"status": "received", "timestamp": int(time.time())}


def verify_signature(payload: dict, signature: str) -> bool:
    """
    Verifica que el webhook viene de nuestro sistema
    """
    # Serializar payload igual a como lo hizo el servidor
    payload_str = json.dumps(payload, sort_keys=True, separators=(',', ':'))

    # Generar firma esperada
    expected_signature = hmac.new(
        SHARED_SECRET.encode('utf-8'),
        payload_str.encode('utf-8'),
        hashlib.sha256
    ).hexdigest()

    # Comparar con timing seguro (evita timing attacks)
    return hmac.compare_digest(signature, expected_signature)


async def handle_payment_success(payload: dict):
    """Procesar pago exitoso"""
    print(f"‚úÖ Pago exitoso: {payload['transaction_id']}")

    # Ejemplo: Actualizar registro en tu BD
    # db.reservas.update_one(
    #     {"_id": payload['metadata']['reservation_id']},
    #     {"$set": {"payment_confirmed": True}}
    # )

    # Enviar email al cliente
    # send_email(payload['user_email'], "Pago confirmado")


async def handle_booking_confirmed(payload: dict):
    """Procesar reserva confirmada"""
    print(f"üìÖ Reserva confirmada: {payload['booking_id']}")

    # Crear paquete tur√≠stico relacionado
    # tour = create_related_tour_package(
    #     user_id=payload['user_id'],
    #     destination=payload['destination'],
    #     dates=(payload['start_date'], payload['end_date'])
    # )
    #
    # notify_user(payload['user_email'], tour)


async def handle_payment_failed(payload: dict):
    """Procesar pago fallido"""
    print(f"‚ùå Pago fallido: {payload['transaction_id']}")
    # Tomar acciones (reintentar, notificar usuario, etc.)
