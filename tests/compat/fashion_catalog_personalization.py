def handle_product_viewed(event_data):
    customer_id = event_data['data']['customer_id']
    product_id = event_data['data']['product_id']
    update_customer_preferences(customer_id, product_id)
